internal import CHiredis
import NIOCore

/// The protocol half of the Redis client, done by hiredis: commands formatted with
/// `redisFormatCommandArgv`, replies parsed by its reader. Only CPU work, so it runs on the event loop.
enum RedisProtocol {
    /// Appends one command (its arguments as they are sent) to `buffer`. Throws for an empty
    /// command, which Redis would never answer (and every later reply would go to the wrong caller).
    static func append(_ arguments: [String], to buffer: inout ByteBuffer) throws {
        guard !arguments.isEmpty else { throw RedisError.protocolError("an empty command") }
        // One contiguous copy of the arguments, so hiredis can have a pointer to each at once.
        var joined: [UInt8] = []
        var ends: [Int] = []
        ends.reserveCapacity(arguments.count)
        for argument in arguments {
            joined.append(contentsOf: argument.utf8)
            ends.append(joined.count)
        }
        let formatted = joined.withUnsafeBufferPointer { bytes -> Bool in
            let base = UnsafeRawPointer(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!).assumingMemoryBound(to: CChar.self)
            var start = 0
            var argv: [UnsafePointer<CChar>?] = []
            var lengths: [Int] = []
            argv.reserveCapacity(arguments.count)
            lengths.reserveCapacity(arguments.count)
            for end in ends {
                argv.append(base + start)
                lengths.append(end - start)
                start = end
            }
            var command: UnsafeMutablePointer<CChar>?
            let length = redisFormatCommandArgv(&command, Int32(arguments.count), &argv, lengths)
            guard length >= 0, let command else { return false }
            defer { redisFreeCommand(command) }
            buffer.writeBytes(UnsafeRawBufferPointer(start: command, count: Int(length)))
            return true
        }
        guard formatted else { throw RedisError.protocolError("hiredis could not format a command") }
    }
}

/// hiredis's reply reader: fed the bytes as they arrive, hands out each complete reply.
/// Not thread-safe; owned by one channel handler, used on its event loop.
final class RedisReplyReader {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        guard let reader = redisReaderCreate() else { fatalError("hiredis could not allocate a reader") }
        self.reader = reader
    }

    deinit { redisReaderFree(reader) }

    func feed(_ buffer: ByteBuffer) throws {
        let status = buffer.withUnsafeReadableBytes { bytes in
            redisReaderFeed(reader, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        guard status == REDIS_OK else { throw RedisError.protocolError(String(cString: chiredis_reader_error(reader))) }
    }

    /// The next complete reply, or nil until more bytes arrive.
    func next() throws -> RedisValue? {
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else {
            throw RedisError.protocolError(String(cString: chiredis_reader_error(reader)))
        }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return Self.value(reply.assumingMemoryBound(to: redisReply.self).pointee)
    }

    private static func value(_ reply: redisReply) -> RedisValue {
        switch reply.type {
        case REDIS_REPLY_STRING:
            return .bulk(Array(UnsafeRawBufferPointer(start: reply.str, count: reply.len)))
        case REDIS_REPLY_STATUS:
            return .status(text(reply))
        case REDIS_REPLY_ERROR:
            return .error(text(reply))
        case REDIS_REPLY_INTEGER:
            return .integer(Int(reply.integer))
        case REDIS_REPLY_ARRAY:
            return .array((0..<reply.elements).map { value(reply.element[$0]!.pointee) })
        default:
            return .null
        }
    }

    private static func text(_ reply: redisReply) -> String {
        String(decoding: UnsafeRawBufferPointer(start: reply.str, count: reply.len), as: UTF8.self)
    }
}
