import Domain
import Foundation
import Hummingbird
import Infra

/// `/v1/webhooks`: a tenant's callback endpoints and the attempts made to deliver to them.
/// Reading needs any role; registering, changing, rotating the secret and removing needs `admin`.
struct WebhookRoutes: Sendable {
    let store: any WebhookStore
    let supervisor: TenantSupervisor
    let bodyLimit: Int
    let resolver: AddressResolver
    /// Lifts the address guard (`AMS_WEBHOOK_ALLOW_PRIVATE=1`).
    let allowPrivate: Bool

    func register(on group: RouterGroup<AppRequestContext>) {
        group.get("webhooks", use: list)
        group.post("webhooks", use: create)
        group.get("webhooks/:webhook_id", use: get)
        group.patch("webhooks/:webhook_id", use: patch)
        group.delete("webhooks/:webhook_id", use: delete)
        group.get("webhooks/:webhook_id/deliveries", use: deliveries)
        group.post("webhooks/:webhook_id/rotate-secret", use: rotateSecret)
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        let (limit, before) = try AgentRoutes.page(request.uri.queryParameters)
        let page = try await store.webhooks(tenant: tenant, limit: limit, before: before)
        return .json(.object(["items": .array(page.items.map(\.json)), "next_cursor": page.next.map { .string(Cursor.encode($0)) } ?? .null]))
    }

    /// 201 with the endpoint and its signing secret, which no other answer shows.
    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.admin)
        var request = request
        let body = try ObjectReader(try await request.json(limit: bodyLimit), at: "", allowed: ["url", "events", "description"])
        var issues: [ValidationIssue] = []
        let url = try body.string("url")
        if let url { issues += await check(url) } else { issues.append(.error(.required, "/url", "url is required")) }
        let events = try events(body, issues: &issues)
        let description = try self.description(body, issues: &issues)
        guard issues.isEmpty, let url, let events else { throw ServiceError.validationFailed(issues) }
        let (info, limits) = try await supervisor.tenant(tenant).tierLimits()
        let now = Date()
        let secret = WebhookSecret.make()
        let webhook = try await store.createWebhook(
            Webhook(
                id: UUID.v7(),
                tenantID: tenant,
                url: url,
                events: events,
                description: description,
                status: .active,
                disabledReason: nil,
                consecutiveFailures: 0,
                createdAt: now,
                updatedAt: now
            ),
            secret: secret,
            limit: limits.maxWebhooks,
            tier: info.tier
        )
        guard case .object(var json) = webhook.json else { throw ServiceError(.internalError, "Webhook could not be shown") }
        json["secret"] = .string(secret)
        return .json(
            ByteBuffer(bytes: JSONValue.object(json).encoded),
            status: .created,
            headers: [.location: "/v1/webhooks/\(webhook.id.uuidString.lowercased())"]
        )
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        guard let webhook = try await store.webhook(try Self.id(context), tenant: tenant) else { throw ServiceError.webhookNotFound() }
        return .json(webhook.json)
    }

    /// Changes `url`, `events`, `description` (null removes it) or `status`; an endpoint made
    /// `active` again starts with a clean failure count and resumes where it stopped.
    @Sendable func patch(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.admin)
        let id = try Self.id(context)
        var request = request
        let body = try ObjectReader(try await request.json(limit: bodyLimit), at: "", allowed: ["url", "events", "description", "status"])
        var change = WebhookChange()
        var issues: [ValidationIssue] = []
        if body.has("url") {
            if let url = try body.string("url") {
                issues += await check(url)
                change.url = url
            } else {
                issues.append(.error(.required, "/url", "url cannot be removed"))
            }
        }
        if body.has("events") { change.events = try events(body, issues: &issues) }
        if body.has("description") { change.description = .some(try description(body, issues: &issues)) }
        if body.has("status") {
            guard let status = try body.string("status").flatMap(Webhook.Status.init(rawValue:)) else {
                throw ServiceError.malformed("status must be active or disabled", field: "/status")
            }
            change.status = status
        }
        guard issues.isEmpty else { throw ServiceError.validationFailed(issues) }
        guard let updated = try await store.updateWebhook(id, tenant: tenant, change) else { throw ServiceError.webhookNotFound() }
        return .json(updated.json)
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.admin)
        guard try await store.deleteWebhook(try Self.id(context), tenant: tenant) else { throw ServiceError.webhookNotFound() }
        return Response(status: .noContent)
    }

    /// The endpoint with a new secret, shown only here, and when the one it replaced stops signing
    /// (`WebhookSecret.overlap` from now). The request has no body; any body is ignored.
    @Sendable func rotateSecret(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.admin)
        let id = try Self.id(context)
        let secret = WebhookSecret.make()
        guard let rotated = try await store.rotateSecret(id, tenant: tenant, to: secret, overlap: WebhookSecret.overlap) else {
            throw ServiceError.webhookNotFound()
        }
        guard case .object(var json) = rotated.webhook.json else { throw ServiceError(.internalError, "Webhook could not be shown") }
        json["secret"] = .string(secret)
        json["previous_secret_expires_at"] = .string(Agent.timestamp(rotated.previousExpiresAt))
        return .json(.object(json))
    }

    @Sendable func deliveries(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        let id = try Self.id(context)
        let (limit, before) = try AgentRoutes.page(request.uri.queryParameters)
        guard try await store.webhook(id, tenant: tenant) != nil else { throw ServiceError.webhookNotFound() }
        let page = try await store.deliveries(webhook: id, tenant: tenant, limit: limit, before: before)
        return .json(.object(["items": .array(page.items.map(\.json)), "next_cursor": page.next.map { .string(Cursor.encode($0)) } ?? .null]))
    }

    static func id(_ context: AppRequestContext) throws -> UUID {
        guard let raw = context.parameters.get("webhook_id"), let id = UUID(canonical: raw) else { throw ServiceError.webhookNotFound() }
        return id
    }

    /// An http(s) url without credentials, whose host does not resolve to an address the guard
    /// refuses. A name that does not resolve (yet, or within 2 s) is accepted: each delivery checks again.
    func check(_ url: String) async -> [ValidationIssue] {
        func issue(_ message: String) -> [ValidationIssue] { [.error(.invalidValue, "/url", message)] }
        guard url.unicodeScalars.count <= 2048 else { return issue("url must be at most 2048 characters") }
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased() else {
            return issue("url must be an absolute http or https url")
        }
        guard scheme == "http" || scheme == "https" else { return issue("url must use http or https, not \(scheme)") }
        guard let host = parts.host, !host.isEmpty else { return issue("url must name a host") }
        guard parts.user == nil, parts.password == nil else { return issue("url must not carry credentials; the signature authenticates deliveries") }
        guard !allowPrivate, let addresses = try? await resolver.resolve(host, within: .seconds(2)) else { return [] }
        return WebhookClient.refusal(host: host, addresses: addresses).map(issue) ?? []
    }

    /// Known event names or `*`, at least one; `nil` with an issue when they are not.
    private func events(_ body: ObjectReader, issues: inout [ValidationIssue]) throws -> [String]? {
        guard let events = try body.strings("events") else {
            issues.append(.error(.required, "/events", "events is required: event names, or [\"*\"] for all"))
            return nil
        }
        guard !events.isEmpty else {
            issues.append(.error(.required, "/events", "events must name at least one event, or [\"*\"] for all"))
            return nil
        }
        var seen = Set<String>()
        var wanted: [String] = []
        for (i, name) in events.enumerated() {
            guard name == "*" || Webhook.eventNames.contains(name) else {
                issues.append(
                    .error(
                        .invalidValue,
                        "/events/\(i)",
                        "unknown event '\(name)'",
                        suggestion: "one of \(Webhook.eventNames.sorted().joined(separator: ", ")), or *"
                    )
                )
                continue
            }
            if seen.insert(name).inserted { wanted.append(name) }
        }
        return wanted.contains("*") ? ["*"] : wanted
    }

    private func description(_ body: ObjectReader, issues: inout [ValidationIssue]) throws -> String? {
        guard let text = try body.string("description") else { return nil }
        if text.unicodeScalars.count > 500 { issues.append(.error(.outOfRange, "/description", "description must be at most 500 characters")) }
        return text
    }
}
