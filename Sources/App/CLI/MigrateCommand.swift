import ArgumentParser
import Infra
import PostgresNIO

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Apply pending database migrations and exit.")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let config = try common.configuration()
        let logger = makeLogger(config)
        let client = PostgresClient(configuration: try .init(url: config.databaseURL), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let applied = try await Migrator(client: client, logger: logger).run()
            logger.notice("migrations complete", metadata: ["applied": "\(applied)"])
        }
    }
}
