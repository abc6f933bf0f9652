import ArgumentParser
import Domain
import Foundation
import Infra
import Logging
import PostgresNIO
import Yams

/// Options shared by the commands that work on one tenant's agents straight in the database.
struct TenantOptions: ParsableArguments {
    @Option(help: "The tenant to work on.") var tenant: String
    @Option(help: "Recorded as the actor in the agents' history.") var actor = "cli"

    /// Runs `body` with that tenant's actor, as the service would build it (tiers, catalog,
    /// validators), against the configured database. Nothing is cached: the service's replicas
    /// hear of every write through their change listener.
    func withTenant<R: Sendable>(_ config: AppConfiguration, _ body: @Sendable @escaping (TenantActor, Audit) async throws -> R) async throws -> R {
        guard Tenant.isValidID(tenant) else { throw ValidationError("--tenant must be 1–128 printable characters without spaces") }
        let logger = makeLogger(config)
        let client = PostgresClient(
            configuration: try .init(url: config.databaseURL, statementTimeout: config.databaseTimeout),
            backgroundLogger: logger
        )
        let stores = PostgresStores(client: client, defaultTier: config.defaultTier, logger: logger)
        let deps = TenantDependencies(
            agents: stores.agents,
            versions: stores.versions,
            aliases: stores.aliases,
            tenants: stores.tenants,
            validators: .builtin,
            policy: try TierPolicyFile.load(path: config.tiersFile),
            catalog: ToolCatalogCache(store: stores.tools, caching: false),
            cacheCapacity: 1,
            retention: config.deletedRetention,
            templates: stores.templates,
            systemTemplates: try TemplateFiles.load(directory: config.templatesDirectory)
        )
        let registry = TenantActor(tenantID: tenant, deps: deps, caching: false)
        let audit = Audit(actor: self.actor, roles: ["admin"], requestID: "cli-" + UUID().uuidString.lowercased())
        return try await withThrowingTaskGroup(of: R?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(registry, audit)
        }
    }

    /// Reads an agent file (JSON, or YAML by its extension).
    static func read(_ path: String) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(path): cannot be read") }
        if path.hasSuffix(".yaml") || path.hasSuffix(".yml") {
            guard let text = String(data: data, encoding: .utf8), let value = YAMLDocument.parse(text) else {
                throw ValidationError("\(path): not valid YAML (or it uses aliases, U+0000, NaN or infinity)")
            }
            return value
        }
        guard let value = JSONValue.parse(Array(data)) else { throw ValidationError("\(path): not valid JSON") }
        return value
    }
}

/// A failure told the way the API would have answered it; the command exits non-zero.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
}

func fail(_ error: any Error, _ file: String? = nil) -> any Error {
    guard let service = error as? ServiceError else { return error }
    let details = service.details.isEmpty ? "" : " " + String(decoding: JSONValue.object(service.details).encoded, as: UTF8.self)
    return CommandFailure(description: "\(file.map { "\($0): " } ?? "")\(service.code.rawValue) \(service.message)\(details)")
}

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write every live agent of a tenant as an agent file (<name>.json), with all versions."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var scope: TenantOptions
    @Option(help: "Directory to write to (created when missing).") var out = "."

    func run() async throws {
        let config = try common.configuration()
        let directory = out
        let written = try await scope.withTenant(config) { actor, _ in
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var count = 0
            var query = AgentQuery(limit: 200)
            repeat {
                let page = try await actor.agents(query)
                for agent in page.items {
                    let file = try await actor.export(agent.id, allVersions: true)
                    let name = agent.config.name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }
                    let path = directory + "/" + String(name) + "-" + agent.id.uuidString.lowercased() + ".json"
                    guard !FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path): exists already") }
                    guard FileManager.default.createFile(atPath: path, contents: Data(file.encoded)) else {
                        throw ValidationError("\(path): cannot be written")
                    }
                    count += 1
                }
                query.after = page.next
            } while query.after != nil
            return count
        }
        print("exported \(written) agents to \(directory)")
    }
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Create one new agent per agent file (JSON or YAML) in a tenant."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var scope: TenantOptions
    @Argument(help: "Agent files.") var files: [String]

    func run() async throws {
        let config = try common.configuration()
        let documents = try files.map { ($0, try TenantOptions.read($0)) }
        try await scope.withTenant(config) { actor, audit in
            for (path, document) in documents {
                do {
                    let created = try await actor.create(try AgentFile.config(document), audit: audit)
                    print("\(path): created \(created.id.uuidString.lowercased())")
                } catch {
                    throw fail(error, path)
                }
            }
        }
    }
}

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Make a tenant's agents match the given agent files, keyed by name, in one transaction."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var scope: TenantOptions
    @Flag(help: "Print the plan without writing.") var dryRun = false
    @Flag(help: "Delete live agents that no file names.") var prune = false
    @Argument(help: "Agent files (exported files or create bodies).") var files: [String]

    func run() async throws {
        let config = try common.configuration()
        let items = try files.map(TenantOptions.read)
        let (dryRun, prune) = (self.dryRun, self.prune)
        let steps = try await scope.withTenant(config) { actor, audit in
            do {
                return try await actor.apply(
                    items,
                    prune: prune,
                    dryRun: dryRun,
                    identity: Identity(subject: audit.actor, roles: [.admin], tenantID: nil),
                    audit: audit
                )
            } catch {
                throw fail(error)
            }
        }
        for step in steps { print("\(step.action.rawValue)\t\(step.name)") }
        if dryRun { print("dry run: nothing written") }
    }
}
