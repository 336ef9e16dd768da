import HTTPWire

/// Just enough HTTP to call the in-process sandbox's control API on 127.0.0.1, on the blocking client the
/// functions use (not URLSession: FoundationNetworking would link libcurl statically, whose development package
/// machines here do not have).
enum LoopbackHTTP {
    /// A response's status and body.
    struct Response {
        var status: Int
        var body: [UInt8]
    }

    /// A failed exchange; the text names the step, never the payload.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private static let client = HTTPWireClient(keepsConnections: false)

    /// `POST path` with a JSON body to `127.0.0.1:port`, waiting at most 10 s for the whole answer.
    static func postJSON(port: Int, path: String, body: String) throws(Failure) -> Response {
        let request = HTTPWireRequest(
            method: "POST",
            target: path,
            host: "127.0.0.1:\(port)",
            headers: [("Content-Type", "application/json")],
            body: Array(body.utf8)
        )
        do {
            let response = try client.send(
                request,
                to: HTTPWireClient.Origin(secure: false, host: "127.0.0.1", port: port),
                bodyLimit: 16 << 20,
                deadline: .now + .seconds(10)
            )
            return Response(status: response.status, body: response.body)
        } catch {
            throw Failure(description: "127.0.0.1:\(port)\(path): \(error.description)")
        }
    }
}
