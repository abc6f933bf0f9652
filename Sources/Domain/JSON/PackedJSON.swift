/// JSON bytes with the keys and enumerated values every agent repeats (`"system_prompt":`,
/// `"draft"`, …) stored as two-byte tokens: a cached agent is about half its JSON, and a read gets the
/// exact bytes back in one pass, without parsing. Valid UTF-8 never holds bytes above 0xF4, so
/// 0xFF (a token) and 0xFE (a literal byte, for input that is not UTF-8) cannot be confused with
/// the text: any bytes come back as they went in.
public enum PackedJSON {
    static let tokenMark: UInt8 = 0xFF
    static let literalMark: UInt8 = 0xFE

    /// Every key an agent's JSON has (`Agent.write(to:)` and the objects inside it), with its
    /// colon, and the quoted values of its closed enumerations. At most 256.
    static let tokens: [[UInt8]] = {
        let keys = [
            "id", "tenant_id", "name", "description", "type", "status", "version", "system_prompt", "llm_config",
            "memory_config", "tools", "collections", "tags", "metadata", "validation", "created_at", "updated_at",
            "created_by", "updated_by", "template_id", "template_version",
            "model", "temperature", "max_tokens", "top_p", "frequency_penalty", "presence_penalty", "stop_sequences",
            "memory_type", "window_size", "include_knowledge_context", "summarize_threshold",
            "config", "issues", "code", "severity", "path", "message", "suggestion",
        ]
        let values =
            AgentStatus.known.map(\.rawValue) + AgentType.known.map(\.rawValue) + MemoryType.known.map(\.rawValue)
            + ["valid", "warnings", "invalid", "error", "warning"]
        let all = keys.map { Array("\"\($0)\":".utf8) } + Set(values).sorted().map { Array("\"\($0)\"".utf8) }
        precondition(all.count <= 256 && Set(all).count == all.count)
        return all
    }()

    /// Token indices by their length, for the packer's lookup.
    private static let byLength: [[UInt8]] = {
        var table = [[UInt8]](repeating: [], count: (tokens.map(\.count).max() ?? 0) + 1)
        for (index, token) in tokens.enumerated() { table[token.count].append(UInt8(index)) }
        return table
    }()

    /// `bytes` packed, appended to `out`.
    public static func pack(_ bytes: [UInt8], into out: inout [UInt8]) {
        bytes.withUnsafeBufferPointer { p in
            var i = 0
            while i < p.count {
                let byte = p[i]
                if byte == UInt8(ascii: "\""), let (index, length) = token(at: i, in: p) {
                    out.append(tokenMark)
                    out.append(index)
                    i += length
                    continue
                }
                if byte >= literalMark { out.append(literalMark) }
                out.append(byte)
                i += 1
            }
        }
    }

    /// The token that starts at `start` (a quote), the longest first: `"name":` before `"name"`.
    private static func token(at start: Int, in p: UnsafeBufferPointer<UInt8>) -> (UInt8, Int)? {
        var end = start + 1
        while end < p.count, p[end] != UInt8(ascii: "\""), end - start < byLength.count { end += 1 }
        guard end < p.count, p[end] == UInt8(ascii: "\"") else { return nil }
        let quoted = end - start + 1
        for length in [quoted + 1, quoted] where length < byLength.count && start + length <= p.count {
            for index in byLength[length] {
                let token = tokens[Int(index)]
                if token.withUnsafeBufferPointer({ t in (0..<length).allSatisfy { t[$0] == p[start + $0] } }) {
                    return (index, length)
                }
            }
        }
        return nil
    }

    /// How many bytes `packed` stands for.
    public static func expandedCount(_ packed: UnsafeBufferPointer<UInt8>) -> Int {
        var count = 0
        var i = 0
        while i < packed.count {
            switch packed[i] {
            case tokenMark:
                count += tokens[Int(packed[i + 1])].count
                i += 2
            case literalMark:
                count += 1
                i += 2
            default:
                count += 1
                i += 1
            }
        }
        return count
    }

    /// Writes what `packed` stands for to `out`, which holds exactly `expandedCount(packed)` bytes.
    public static func expand(_ packed: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableRawBufferPointer) {
        var o = 0
        var i = 0
        while i < packed.count {
            let byte = packed[i]
            if byte < literalMark {
                out[o] = byte
                o += 1
                i += 1
            } else if byte == literalMark {
                out[o] = packed[i + 1]
                o += 1
                i += 2
            } else {
                let token = tokens[Int(packed[i + 1])]
                token.withUnsafeBytes { t in
                    UnsafeMutableRawBufferPointer(rebasing: out[o..<o + t.count]).copyMemory(from: t)
                }
                o += token.count
                i += 2
            }
        }
    }

    /// The bytes `packed` stands for.
    public static func expanded(_ packed: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        let count = expandedCount(packed)
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            expand(packed, into: UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }
}
