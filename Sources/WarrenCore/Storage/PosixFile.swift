import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failed file operation, with the path and the system's reason.
public struct StorageError: Error, CustomStringConvertible, Sendable {
    public var description: String

    init(_ operation: String, _ path: String, errno code: Int32 = errno) {
        description = "\(operation) \(path): \(String(cString: strerror(code)))"
    }

    init(_ description: String) {
        self.description = description
    }
}

/// Thin wrappers over the POSIX calls the store uses; everything the store writes goes
/// through here, so errors carry paths.
enum PosixFile {
    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(StorageError) -> Int32 {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw StorageError("cannot open", path) }
        return fd
    }

    /// Writes the whole buffer at the end of the file (the fd is opened O_APPEND).
    static func write(_ fd: Int32, _ buffer: ByteBuffer, path: String) throws(StorageError) {
        var failure: StorageError?
        buffer.withUnsafeReadableBytes { bytes in
            var done = 0
            while done < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = StorageError("cannot write", path)
                    return
                }
                done += n
            }
        }
        if let failure { throw failure }
    }

    static func read(_ fd: Int32, at offset: UInt32, length: Int, path: String) throws(StorageError) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        var failure: StorageError?
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { out in
            var done = 0
            while done < length {
                let n = pread(fd, out.baseAddress! + done, length - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = StorageError("cannot read", path)
                    return done
                }
                if n == 0 {
                    failure = StorageError("short read of \(path) at \(offset)")
                    return done
                }
                done += n
            }
            return done
        }
        if let failure { throw failure }
        return buffer
    }

    /// The whole file, or nil if it does not exist.
    static func readAll(_ path: String) throws(StorageError) -> ByteBuffer? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw StorageError("cannot open", path)
        }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw StorageError("cannot stat", path) }
        let size = Int(st.st_size)
        if size == 0 { return ByteBuffer() }
        return try read(fd, at: 0, length: size, path: path)
    }

    /// A read-only mapping of a whole file (nil if it does not exist), for scanning without
    /// copying it into memory.
    struct Mapping {
        let bytes: UnsafeRawBufferPointer

        func unmap() {
            if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
        }
    }

    static func map(_ path: String) throws(StorageError) -> Mapping? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw StorageError("cannot open", path)
        }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw StorageError("cannot stat", path) }
        let size = Int(st.st_size)
        if size == 0 { return Mapping(bytes: UnsafeRawBufferPointer(start: nil, count: 0)) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw StorageError("cannot map", path)
        }
        madvise(base, size, MADV_SEQUENTIAL)
        return Mapping(bytes: UnsafeRawBufferPointer(start: base, count: size))
    }

    static func truncate(_ path: String, to length: Int) throws(StorageError) {
        guard Glibc.truncate(path, off_t(length)) == 0 else { throw StorageError("cannot truncate", path) }
    }

    static func makeDirectory(_ path: String) throws(StorageError) {
        var partial = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            partial += "/" + component
            if mkdir(partial, 0o755) != 0 && errno != EEXIST { throw StorageError("cannot create directory", partial) }
        }
    }

    static func removeTree(_ path: String) {
        guard let dir = opendir(path) else {
            unlink(path)
            return
        }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name == "." || name == ".." { continue }
            let child = path + "/" + name
            if entry.pointee.d_type == UInt8(DT_DIR) { removeTree(child) } else { unlink(child) }
        }
        closedir(dir)
        rmdir(path)
    }

    static func list(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func syncData(_ fd: Int32) { _ = fdatasync(fd) }
}
