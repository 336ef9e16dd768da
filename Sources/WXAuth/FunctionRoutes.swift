extension Functions.Name {
    /// The HTTP routes the function answers, each with its methods, as `functions.yaml` declares them (a test holds
    /// the two equal); `wxauth-http` routes by these, since no manifest is deployed beside it.
    public var routes: [(path: String, methods: [String])] {
        switch self {
        case .login: [("/login", ["POST", "GET"])]
        case .callback: [("/callback", ["GET"])]
        case .refresh: [("/refresh", ["POST"])]
        case .userinfo: [("/userinfo", ["GET", "POST"])]
        case .logout: [("/logout", ["POST"])]
        case .jwks: [("/.well-known/jwks.json", ["GET"]), ("/.well-known/oauth-authorization-server", ["GET"])]
        case .admin: [("/admin/introspect", ["POST"]), ("/admin/revoke", ["POST"])]
        }
    }
}
