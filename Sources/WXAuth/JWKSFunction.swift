import FunctionRuntime
import Logging

extension Functions {
    /// Where the JWKS is published, under `WXAUTH_PUBLIC_URL`.
    static let jwksPath = "/.well-known/jwks.json"
    /// Where the RFC 8414 metadata is published.
    static let metadataPath = "/.well-known/oauth-authorization-server"

    /// `jwks`: `GET /.well-known/jwks.json` and `GET /.well-known/oauth-authorization-server` (CONTRACT §4).
    ///
    /// It reads the configuration alone: no store is opened and no WeChat client is made, since neither document
    /// depends on them. The configuration is read once, before the first request.
    static func jwksDefinition(environment: [String: String]) -> FunctionDefinition {
        let config: Result<Config, AuthError>
        do {
            config = .success(try Config(environment: environment))
        } catch {
            config = .failure(.misconfigured(error.description))
        }
        let handler: FunctionHandler = { request, context in
            do throws(AuthError) {
                guard request.method == "GET" else { throw .methodNotAllowed(request.method, allowed: ["GET"]) }
                let body: String
                switch request.path {
                case jwksPath: body = try config.get().signingKeys.publicJWKSet
                case metadataPath: body = try metadata(config.get())
                default: return .error(404, code: "invalid_request", description: "no document at this path")
                }
                return FunctionResponse(
                    statusCode: 200,
                    headers: ["content-type": "application/json", "cache-control": "public, max-age=300"],
                    body: body
                )
            } catch {
                if error.status == 500 {
                    context.logger.error("configuration error", metadata: ["setting": "\(error.description)"])
                }
                return error.response
            }
        }
        return FunctionDefinition(handler: handler) { _ in _ = try config.get() }
    }

    /// RFC 8414 metadata: the endpoints as absolute URLs under `WXAUTH_PUBLIC_URL`.
    static func metadata(_ config: Config) throws(AuthError) -> String {
        guard var base = config.publicURL, base.hasPrefix("https://") || base.hasPrefix("http://") else {
            throw .misconfigured("WXAUTH_PUBLIC_URL must be set to the service's external http(s) URL")
        }
        while base.hasSuffix("/") { base.removeLast() }
        let members: [(String, String)] = [
            ("issuer", JSONText.quote(config.issuer)),
            ("jwks_uri", JSONText.quote(base + jwksPath)),
            ("authorization_endpoint", JSONText.quote(base + "/login")),
            ("token_endpoint", JSONText.quote(base + "/refresh")),
            ("userinfo_endpoint", JSONText.quote(base + "/userinfo")),
            ("revocation_endpoint", JSONText.quote(base + "/logout")),
            ("introspection_endpoint", JSONText.quote(base + "/admin/introspect")),
            ("response_types_supported", #"["code"]"#),
            ("token_endpoint_auth_methods_supported", #"["none"]"#),
        ]
        return "{" + members.map { JSONText.quote($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }
}
