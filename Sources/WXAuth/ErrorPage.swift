import Encodings
import FunctionRuntime

/// The small HTML page a browser sees when a web sign-in fails at the callback: the error code in
/// `#error`, the description, and a way back. Nothing in it comes from the request unescaped.
enum ErrorPage {
    static func response(for error: AuthError) -> FunctionResponse {
        let body = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Sign-in failed</title></head>
            <body><main><h1>Sign-in failed</h1>
            <p>Error: <code id="error">\(HTMLText.escape(error.code))</code></p>
            <p id="error-description">\(HTMLText.escape(error.description))</p>
            <p><a href="/">Back</a></p></main></body></html>
            """
        var headers = error.headers
        headers["content-type"] = "text/html; charset=utf-8"
        headers["cache-control"] = "no-store"
        headers["content-security-policy"] = "default-src 'none'"
        return FunctionResponse(statusCode: error.status, headers: headers, body: body)
    }
}
