import Hummingbird

/// `GET /console`: the web console for tenant admins, a page and its modules served from the
/// binary without auth. The page asks for a token and calls the public API with it.
struct ConsoleRoutes: Sendable {
    var assets = ConsoleAssets.embedded

    func register(on router: Router<AppRequestContext>) {
        let assets = assets
        router.get("console") { request, _ in try assets.response("index.html", request) }
        router.get("console/:file") { request, context in try assets.response(context.parameters.get("file") ?? "", request) }
    }
}
