import ArgumentParser
import Foundation

struct OpenAPICommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "openapi", abstract: "Print the API contract (OpenAPI 3.1) and exit.")

    @Flag(help: "Print it as JSON rather than YAML.") var json = false

    func run() throws {
        let contract = try APIContract()
        let document = json ? contract.json : contract.yaml
        FileHandle.standardOutput.write(Data(document.readableBytesView))
        FileHandle.standardOutput.write(Data("\n".utf8))
    }
}
