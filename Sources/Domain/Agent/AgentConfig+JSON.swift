extension AgentConfig {
    static let fields: Set<String> = [
        "name", "description", "type", "status", "system_prompt", "llm_config", "memory_config",
        "tools", "collections", "tags", "metadata",
    ]

    /// Refuses a merge patch that names a field an agent does not have (AMS-109), also one set to
    /// `null`, which the merge itself would drop without a word.
    public static func checkPatchFields(_ patch: [String: JSONValue], at path: String) throws(ServiceError) {
        _ = try ObjectReader(.object(patch), at: path, allowed: fields)
        if let llm = patch["llm_config"], case .object = llm {
            _ = try ObjectReader(llm, at: path + "/llm_config", allowed: LLMConfig.fields)
        }
        if let memory = patch["memory_config"], case .object = memory {
            _ = try ObjectReader(memory, at: path + "/memory_config", allowed: MemoryConfig.fields)
        }
    }

    /// Reads a create body (or a merged PATCH result). Structure is checked here (AMS-109); values,
    /// including missing required ones, are left to the validators so all issues come back at once.
    public init(json: JSONValue) throws(ServiceError) {
        try self.init(json: json, lenient: false)
    }

    /// Reads a stored row: unknown keys at any level are ignored, because a newer release may have
    /// written fields this one does not know and reading must not fail on them.
    public init(stored json: JSONValue) throws(ServiceError) {
        try self.init(json: json, lenient: true)
    }

    private init(json: JSONValue, lenient: Bool) throws(ServiceError) {
        let body = try ObjectReader(json, at: "", allowed: Self.fields, lenient: lenient)
        let llm = try body.value("llm_config").map { v throws(ServiceError) in try LLMConfig(json: v, lenient: lenient) } ?? LLMConfig(model: "")
        let memory = try body.value("memory_config").map { v throws(ServiceError) in try MemoryConfig(json: v, lenient: lenient) } ?? .default
        var tools: [AgentTool] = []
        for (i, item) in (try body.array("tools") ?? []).enumerated() {
            tools.append(try AgentTool(json: item, at: "/tools/\(i)", lenient: lenient))
        }
        self.init(
            name: try body.string("name") ?? "",
            description: try body.string("description"),
            type: AgentType(rawValue: try body.string("type") ?? AgentType.conversational.rawValue),
            status: AgentStatus(rawValue: try body.string("status") ?? AgentStatus.draft.rawValue),
            systemPrompt: try body.string("system_prompt") ?? "",
            llmConfig: llm,
            memoryConfig: memory,
            tools: tools,
            collections: try body.strings("collections") ?? [],
            tags: try body.strings("tags") ?? [],
            metadata: try body.object("metadata") ?? [:]
        )
    }

    /// What versions snapshot and diffs compare: the configuration without its lifecycle status,
    /// which changes through `POST …/status` and never makes a version.
    public var versionedJSON: JSONValue {
        guard case .object(var fields) = json else { return json }
        fields["status"] = nil
        return .object(fields)
    }

    /// The configuration as JSON: the base a merge patch applies to, and what declarative rules read.
    public var json: JSONValue {
        .object([
            "name": .string(name),
            "description": description.map(JSONValue.string) ?? .null,
            "type": .string(type.rawValue),
            "status": .string(status.rawValue),
            "system_prompt": .string(systemPrompt),
            "llm_config": llmConfig.json,
            "memory_config": memoryConfig.json,
            "tools": .array(tools.map(\.json)),
            "collections": .array(collections.map(JSONValue.string)),
            "tags": .array(tags.map(JSONValue.string)),
            "metadata": .object(metadata),
        ])
    }
}

extension LLMConfig {
    static let fields: Set<String> = [
        "model", "temperature", "max_tokens", "top_p", "frequency_penalty", "presence_penalty", "stop_sequences",
    ]

    init(json: JSONValue, lenient: Bool = false) throws(ServiceError) {
        let r = try ObjectReader(json, at: "/llm_config", allowed: Self.fields, lenient: lenient)
        self.init(
            model: try r.string("model") ?? "",
            temperature: try r.double("temperature"),
            maxTokens: try r.int("max_tokens"),
            topP: try r.double("top_p"),
            frequencyPenalty: try r.double("frequency_penalty"),
            presencePenalty: try r.double("presence_penalty"),
            stopSequences: try r.strings("stop_sequences")
        )
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = ["model": .string(model)]
        if let temperature { o["temperature"] = .double(temperature) }
        if let maxTokens { o["max_tokens"] = .int(maxTokens) }
        if let topP { o["top_p"] = .double(topP) }
        if let frequencyPenalty { o["frequency_penalty"] = .double(frequencyPenalty) }
        if let presencePenalty { o["presence_penalty"] = .double(presencePenalty) }
        if let stopSequences { o["stop_sequences"] = .array(stopSequences.map(JSONValue.string)) }
        return .object(o)
    }
}

extension MemoryConfig {
    static let fields: Set<String> = ["memory_type", "window_size", "summarize_threshold", "include_knowledge_context"]

    init(json: JSONValue, lenient: Bool = false) throws(ServiceError) {
        let r = try ObjectReader(json, at: "/memory_config", allowed: Self.fields, lenient: lenient)
        self.init(
            memoryType: MemoryType(rawValue: try r.string("memory_type") ?? MemoryConfig.default.memoryType.rawValue),
            windowSize: try r.int("window_size") ?? MemoryConfig.default.windowSize,
            summarizeThreshold: try r.int("summarize_threshold"),
            includeKnowledgeContext: try r.bool("include_knowledge_context") ?? false
        )
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "memory_type": .string(memoryType.rawValue), "window_size": .int(windowSize),
            "include_knowledge_context": .bool(includeKnowledgeContext),
        ]
        if let summarizeThreshold { o["summarize_threshold"] = .int(summarizeThreshold) }
        return .object(o)
    }
}

extension AgentTool {
    /// Accepts the shorthand `"search"` as well as `{"id": "search", "config": {}}`.
    init(json: JSONValue, at path: String, lenient: Bool = false) throws(ServiceError) {
        if case .string(let id) = json {
            self.init(id: id)
            return
        }
        let r = try ObjectReader(json, at: path, allowed: ["id", "config"], lenient: lenient)
        self.init(id: try r.string("id") ?? "", config: try r.object("config") ?? [:])
    }

    public var json: JSONValue { .object(["id": .string(id), "config": .object(config)]) }
}
