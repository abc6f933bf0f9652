public import Foundation

extension Agent {
    /// The API representation, written once per version and served from the cache as bytes.
    public var encodedJSON: [UInt8] {
        var w = JSONWriter(capacity: 1024)
        write(to: &w)
        return w.bytes
    }

    public func write(to w: inout JSONWriter) {
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
        w.endObject()
    }

    /// RFC 3339 UTC with milliseconds.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
