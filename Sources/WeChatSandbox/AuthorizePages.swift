import Encodings
import Foundation
import Hummingbird
import NIOCore

/// WeChat's web authorisation pages, `/connect/oauth2/authorize` (official account) and
/// `/connect/qrconnect` (website app), as a plain-HTML consent page.
///
/// `GET` validates the request as WeChat does and shows the page: pick a test user (`#user`) or name a
/// new one (`#nickname`), optionally as a snapshot-page virtual account (`#snapshot`, official accounts
/// only), then `#approve` or `#refuse`. The form posts back to the same path; the answer is a 302 to
/// `redirect_uri?code=CODE&state=STATE`, or `redirect_uri?state=STATE` when refused. The
/// `#wechat_redirect` fragment never reaches a server, so it cannot be checked here.
enum AuthorizePages {
    /// The two pages: their path, the app kind they serve, and the scopes they accept.
    enum Flow: Sendable {
        case officialAccount
        case qrConnect

        var path: String {
            switch self {
            case .officialAccount: "/connect/oauth2/authorize"
            case .qrConnect: "/connect/qrconnect"
            }
        }

        var kind: SandboxApp.Kind {
            switch self {
            case .officialAccount: .officialAccount
            case .qrConnect: .website
            }
        }
    }

    static let maxBodySize = 16 * 1024
    static let maxNicknameLength = 64

    static func register(on router: Router<SandboxRequestContext>, state: SandboxState) {
        for flow in [Flow.officialAccount, .qrConnect] {
            router.get(RouterPath(flow.path)) { request, _ in
                await page(flow: flow, query: request.uri.query ?? "", state: state)
            }
            router.post(RouterPath(flow.path)) { request, _ in
                guard let body = try? await request.body.collect(upTo: maxBodySize) else {
                    return errorPage("The form is too large.", status: .contentTooLarge)
                }
                return await decide(flow: flow, form: String(buffer: body), state: state)
            }
        }
    }

    // MARK: Validation

    /// A request WeChat would accept.
    struct Authorization {
        var app: SandboxApp
        var redirectURI: String
        var scope: String
        var state: String
    }

    /// Why WeChat would refuse the request, with its page errcode where one is known (WECHAT.md A3).
    struct Refusal: Error {
        var message: String
        var errcode: Int?
    }

    /// Checks the parameters in the order WeChat's page reports them.
    static func validate(_ fields: FormFields, flow: Flow, state: SandboxState) async -> Result<Authorization, Refusal>
    {
        guard let appid = fields["appid"], let app = await state.app(appid) else {
            return .failure(Refusal(message: "appid 参数错误: unknown appid"))
        }
        guard app.kind == flow.kind else {
            return .failure(
                Refusal(
                    message: "appid \(appid) is not a \(flow.kind.rawValue) app (it is \(app.kind.rawValue))",
                    errcode: 10016
                )
            )
        }
        guard let redirectURI = fields["redirect_uri"], let url = URLComponents(string: redirectURI),
            let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty
        else {
            return .failure(Refusal(message: "redirect_uri 参数错误: not an absolute http(s) URL", errcode: 10003))
        }
        if let domain = app.redirectDomain, host.lowercased() != domain.lowercased() {
            return .failure(Refusal(message: "redirect_uri 参数错误: host \(host) is not \(domain)", errcode: 10003))
        }
        guard fields["response_type"] == "code" else {
            return .failure(Refusal(message: "response_type 参数错误: must be code"))
        }
        guard let scope = fields["scope"], WebAuthorization.scopes(for: app.kind).contains(scope) else {
            let allowed = WebAuthorization.scopes(for: app.kind).joined(separator: " or ")
            return .failure(Refusal(message: "scope 参数错误或没有 scope 权限: use \(allowed)", errcode: 10005))
        }
        let stateValue = fields["state"] ?? ""
        guard stateValue.utf8.count <= 128, stateValue.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            return .failure(Refusal(message: "state 参数错误: at most 128 characters of [A-Za-z0-9]"))
        }
        return .success(Authorization(app: app, redirectURI: redirectURI, scope: scope, state: stateValue))
    }

    // MARK: Handlers

    static func page(flow: Flow, query: String, state: SandboxState) async -> Response {
        switch await validate(FormFields(encoded: query), flow: flow, state: state) {
        case .failure(let refusal): return errorPage(refusal)
        case .success(let authorization): return consentPage(authorization, flow: flow, users: await state.testUsers)
        }
    }

    static func decide(flow: Flow, form: String, state: SandboxState) async -> Response {
        let fields = FormFields(encoded: form)
        let authorization: Authorization
        switch await validate(fields, flow: flow, state: state) {
        case .failure(let refusal): return errorPage(refusal)
        case .success(let valid): authorization = valid
        }
        switch fields["decision"] {
        case "refuse":
            return redirect(to: callbackURL(authorization.redirectURI, code: nil, state: authorization.state))
        case "approve":
            break
        default:
            return errorPage("Choose approve or refuse.", status: .badRequest)
        }
        let nickname = (fields["nickname"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard nickname.count <= maxNicknameLength, !nickname.contains(where: \.isNewline),
            !nickname.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            return errorPage(
                "The nickname must be at most \(maxNicknameLength) characters on one line.",
                status: .badRequest
            )
        }
        let chosen = fields["user"].flatMap { $0.isEmpty ? nil : $0 }
        let user = nickname.isEmpty ? (chosen ?? TestUsers.randomUserName()) : nickname
        // Snapshot pages exist only in official accounts' articles.
        let snapshot = flow == .officialAccount && !(fields["snapshot"] ?? "").isEmpty
        guard
            let issued = await state.mintWebCode(
                appid: authorization.app.appid,
                user: user,
                scope: authorization.scope,
                snapshot: snapshot
            )
        else {
            return errorPage("The app can no longer be authorised.", status: .badRequest)
        }
        return redirect(to: callbackURL(authorization.redirectURI, code: issued.code, state: authorization.state))
    }

    /// `redirect_uri` with `code` (when approved) and `state` appended to its query, before any fragment.
    static func callbackURL(_ redirectURI: String, code: String?, state: String) -> String {
        let fragmentStart = redirectURI.firstIndex(of: "#") ?? redirectURI.endIndex
        let base = redirectURI[..<fragmentStart]
        let fragment = redirectURI[fragmentStart...]
        let separator = !base.contains("?") ? "?" : (base.hasSuffix("?") || base.hasSuffix("&") ? "" : "&")
        let added = (code.map { "code=\($0)&" } ?? "") + "state=\(state)"
        return base + separator + added + fragment
    }

    // MARK: Pages

    static func consentPage(_ authorization: Authorization, flow: Flow, users: [String]) -> Response {
        let app = authorization.app
        let hidden = [
            ("appid", app.appid), ("redirect_uri", authorization.redirectURI), ("response_type", "code"),
            ("scope", authorization.scope), ("state", authorization.state),
        ].map { "<input type=\"hidden\" name=\"\($0.0)\" value=\"\(HTMLText.escape($0.1))\">" }
        let options =
            users.enumerated().map { index, user in
                "<option value=\"\(HTMLText.escape(user))\"\(index == 0 ? " selected" : "")>\(HTMLText.escape(user))</option>"
            } + ["<option value=\"\">New user (nickname below)</option>"]
        let snapshot =
            flow == .officialAccount
            ? """
            <p><label><input type="checkbox" name="snapshot" id="snapshot" value="1"> \
            Snapshot-page virtual account (is_snapshotuser)</label></p>
            """ : ""
        let body = """
            <h1>WeChat sandbox: authorise</h1>
            <p id="request">App <code id="appid">\(HTMLText.escape(app.appid))</code> (\(HTMLText.escape(app.kind.rawValue))) asks for \
            <code id="scope">\(HTMLText.escape(authorization.scope))</code>; it will receive the answer at \
            <code id="redirect_uri">\(HTMLText.escape(authorization.redirectURI))</code>.</p>
            <form id="consent" method="post" action="\(flow.path)">
            \(hidden.joined(separator: "\n"))
            <p><label for="user">Test user</label>
            <select name="user" id="user">\(options.joined())</select></p>
            <p><label for="nickname">or a new user's nickname</label>
            <input type="text" name="nickname" id="nickname" maxlength="\(maxNicknameLength)"></p>
            \(snapshot)
            <p><button type="submit" id="approve" name="decision" value="approve">Approve</button>
            <button type="submit" id="refuse" name="decision" value="refuse">Refuse</button></p>
            </form>
            """
        return html(title: "Authorise \(app.appid)", body: body, status: .ok)
    }

    static func errorPage(_ refusal: Refusal) -> Response {
        let code = refusal.errcode.map { " data-errcode=\"\($0)\"" } ?? ""
        let shown = refusal.errcode.map { "(\($0)) " } ?? ""
        let body =
            "<h1>WeChat sandbox: cannot authorise</h1>\n<p id=\"error\"\(code)>\(shown)\(HTMLText.escape(refusal.message))</p>"
        return html(title: "Cannot authorise", body: body, status: .badRequest)
    }

    static func errorPage(_ message: String, status: HTTPResponse.Status) -> Response {
        let body = "<h1>WeChat sandbox: cannot authorise</h1>\n<p id=\"error\">\(HTMLText.escape(message))</p>"
        return html(title: "Cannot authorise", body: body, status: status)
    }

    static func html(title: String, body: String, status: HTTPResponse.Status) -> Response {
        let page = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(HTMLText.escape(title))</title></head>
            <body>
            \(body)
            </body></html>

            """
        return Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: page))
        )
    }

    static func redirect(to location: String) -> Response {
        Response(status: .found, headers: [.location: location, .cacheControl: "no-store"])
    }

}

/// `application/x-www-form-urlencoded` fields (a query string or a form body); the first of repeated
/// names wins.
struct FormFields {
    private var values: [String: String] = [:]

    init(encoded: String) {
        for pair in encoded.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]) else { continue }
            let value = parts.count > 1 ? Self.decode(parts[1]) : ""
            if self.values[name] == nil, let value {
                self.values[name] = value
            }
        }
    }

    subscript(name: String) -> String? { self.values[name] }

    private static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
