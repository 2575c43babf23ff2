import AMQPProtocol
import NIOCore
import NIOEmbedded
import Testing
@testable import WarrenServer
@testable import WarrenCore
