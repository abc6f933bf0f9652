import ArgumentParser
import Hummingbird
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Migrate (as the schema's owner; another role checks the schema is current), then serve the HTTP API."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "Listen address (AMS_HTTP_HOST).") var host: String?
    @Option(help: "Listen port (AMS_HTTP_PORT).") var port: Int?

    func run() async throws {
        var config = try common.configuration()
        if let host { config.host = host }
        if let port { config.port = port }
        let logger = makeLogger(config)
        logger.debug("configuration", metadata: ["settings": "\(config)"])
        let app = try await buildApplication(config, logger: logger)
        try await app.runService()
    }
}
