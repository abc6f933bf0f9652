import AsyncHTTPClient
import Domain
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// Reads the identity provider's keys (`IdentityProviderKeys`) at start, every `interval`
/// (`AMS_JWT_JWKS_REFRESH`), and at once when a token names an unknown `kid`. A read that fails
/// keeps the keys already known and is tried again after a growing wait (`Backoff`), at most
/// `interval`. The URL is fetched with async-http-client's shared client: `https` verified as
/// usual, `http` accepted (a loopback provider).
struct JWKSRefresher: Service {
    let keys: IdentityProviderKeys
    let interval: Duration
    let logger: Logger
    /// One fetch's deadline.
    var timeout: Duration = .seconds(5)
    var retry = Backoff(initial: .seconds(1), maximum: .seconds(60), jitter: 0.2)
    /// The largest JWKS accepted, in bytes.
    static let maximumSize = 1 << 20

    func run() async {
        await cancelWhenGracefulShutdown {
            var backoff = retry
            while !Task.isCancelled {
                let wait: Duration
                if await refresh() {
                    backoff.reset()
                    wait = interval
                } else {
                    wait = min(backoff.next(), interval)
                }
                await pause(for: wait)
            }
        }
        keys.stop()
    }

    /// Until `wait` has passed or a token asks for a read.
    private func pause(for wait: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: wait) }
            group.addTask { await keys.nextAsk() }
            await group.next()
            group.cancelAll()
        }
    }

    /// Reads every source once; `false` when one could not be read (its keys stay as they were).
    func refresh() async -> Bool {
        keys.beginRead()
        defer { keys.finishRead() }
        var read = true
        if let path = keys.file {
            let loaded = await load(.file, from: path) { try await IdentityProviderKeys.readFile(path) }
            read = read && loaded
        }
        if let url = keys.url {
            let loaded = await load(.url, from: AppConfiguration.redactingPassword(url)) { try await fetch(url) }
            read = read && loaded
        }
        return read
    }

    private func load(_ source: IdentityProviderKeys.Source, from location: String, _ data: () async throws -> Data) async -> Bool {
        let metadata: Logger.Metadata = ["source": "\(source.rawValue)", "location": "\(location)"]
        do {
            let set = try await JWKSKeySet.load(data(), paths: keys.paths)
            if keys.install(set, from: source) {
                logger.info(
                    "identity provider keys loaded",
                    metadata: metadata.merging(["kids": "\(set.keys.keys.sorted())", "skipped": "\(set.skipped)"]) { $1 }
                )
            }
            return true
        } catch {
            logger.warning("identity provider keys could not be read", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            return false
        }
    }

    private func fetch(_ url: String) async throws -> Data {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await HTTPClient.shared.execute(request, timeout: TimeAmount(timeout))
        guard response.status == .ok else { throw JWKSKeySet.Invalid(description: "HTTP status \(response.status.code)") }
        return Data(try await response.body.collect(upTo: Self.maximumSize).readableBytesView)
    }
}
