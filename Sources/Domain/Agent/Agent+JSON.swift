public import Foundation

extension Agent {
    /// The API representation, written once per version and served from the cache as bytes.
    public var encodedJSON: [UInt8] {
        var w = JSONWriter(capacity: 1024)
        write(to: &w)
        return w.bytes
    }

    /// `extra` fields follow the agent's own (a version's `changes`, say).
    public func write(to w: inout JSONWriter, extra: KeyValuePairs<String, JSONValue> = [:]) {
        w.beginObject()
        w.field("id", id.uuidString.lowercased())
        w.field("tenant_id", tenantID)
        w.field("name", config.name)
        w.field("description", config.description)
        w.field("type", config.type.rawValue)
        w.field("status", config.status.rawValue)
        w.field("version", version)
        w.field("system_prompt", config.systemPrompt)
        w.field("llm_config", config.llmConfig.json)
        w.field("memory_config", config.memoryConfig.json)
        w.field("tools", .array(config.tools.map(\.json)))
        w.field("collections", config.collections)
        w.field("tags", config.tags)
        w.field("metadata", .object(config.metadata))
        w.field("validation", validation.json)
        w.field("created_at", Self.timestamp(createdAt))
        w.field("updated_at", Self.timestamp(updatedAt))
        w.field("created_by", createdBy)
        w.field("updated_by", updatedBy)
        // Only agents made from a template carry these: most have none, and cached agents are many.
        if let templateID {
            w.field("template_id", templateID)
            w.field("template_version", templateVersion.map(JSONValue.int) ?? .null)
        }
        for (key, value) in extra { w.field(key, value) }
        w.endObject()
    }

    /// What Agent Execution and Conversation services run: the configuration of `version` (the
    /// agent's own, or an alias's snapshot in `config`) without the registry's bookkeeping.
    public func executionJSON(version: Int? = nil, config: AgentConfig? = nil) -> [UInt8] {
        let c = config ?? self.config
        var w = JSONWriter(capacity: 768)
        w.beginObject()
        w.field("agent_id", id.uuidString.lowercased())
        w.field("tenant_id", tenantID)
        w.field("version", version ?? self.version)
        w.field("type", c.type.rawValue)
        w.field("system_prompt", c.systemPrompt)
        w.field("llm_config", c.llmConfig.json)
        w.field("memory_config", c.memoryConfig.json)
        w.field("tools", .array(c.tools.map(\.json)))
        w.field("collections", c.collections)
        w.endObject()
        return w.bytes
    }

    /// RFC 3339 UTC with milliseconds, rounded to the nearest one: Postgres keeps microseconds, and a
    /// `Date` that went through it may come back a hair below the millisecond it was written as.
    /// Written by hand: Foundation's formatter showed in the profile of a create.
    public static func timestamp(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (days, msOfDay) = (ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000, ((ms % 86_400_000) + 86_400_000) % 86_400_000)
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        var bytes = [UInt8](repeating: 0, count: 24)
        func put(_ value: Int64, _ at: Int, _ width: Int) {
            var v = value
            for i in stride(from: at + width - 1, through: at, by: -1) {
                bytes[i] = UInt8(truncatingIfNeeded: 48 + v % 10)
                v /= 10
            }
        }
        put(year, 0, 4)
        bytes[4] = 45
        put(month, 5, 2)
        bytes[7] = 45
        put(day, 8, 2)
        bytes[10] = 84
        put(msOfDay / 3_600_000, 11, 2)
        bytes[13] = 58
        put(msOfDay / 60_000 % 60, 14, 2)
        bytes[16] = 58
        put(msOfDay / 1000 % 60, 17, 2)
        bytes[19] = 46
        put(msOfDay % 1000, 20, 3)
        bytes[23] = 90
        return String(decoding: bytes, as: UTF8.self)
    }
}
