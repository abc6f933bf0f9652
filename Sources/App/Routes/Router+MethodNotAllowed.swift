import HTTPTypes
import Hummingbird

extension Router {
    /// Answers a method that a known path does not route with 405 and `Allow`, rather than the 404
    /// of an unknown path. Call it once every route is registered. A path with GET answers HEAD too
    /// (the router's `autoGenerateHeadEndpoints`).
    func refuseOtherMethods() {
        let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options, .trace, .init("QUERY")!]
        var allowed: [String: (path: RouterPath, methods: Set<HTTPRequest.Method>)] = [:]
        for route in routes {
            allowed[route.path.description, default: (route.path, [])].methods.insert(route.method)
            if route.method == .get { allowed[route.path.description]?.methods.insert(.head) }
        }
        for (path, known) in allowed.values {
            let allow = methods.filter(known.contains).map(\.rawValue).joined(separator: ", ")
            for method in methods where !known.contains(method) {
                on(path, method: method) { _, _ -> Response in
                    throw HTTPError(.methodNotAllowed, headers: [.allow: allow])
                }
            }
        }
    }
}
