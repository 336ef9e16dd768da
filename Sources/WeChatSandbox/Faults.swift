/// A misbehaviour injected into the next calls of one WeChat endpoint (`POST /sandbox/faults`).
///
/// Faults exist so clients can be tested against what real WeChat does on a bad day: busy errors,
/// gateway failures, slowness and dropped connections.
struct SandboxFault: Sendable, Codable, Equatable {
    /// The WeChat path it applies to, e.g. `/sns/jscode2session`.
    var endpoint: String
    /// How many calls it applies to; each call consumes one.
    var times: Int
    /// Answer this WeChat errcode (HTTP 200) instead of the real result. The code is not consumed.
    var errcode: Int?
    /// The errmsg to go with `errcode`; a WeChat-like one by default.
    var errmsg: String?
    /// Answer this HTTP status with a short text body.
    var status: Int?
    /// Wait this long first, then apply the other fault fields or answer normally.
    var delayMilliseconds: Int?
    /// Close the connection without a complete response.
    var drop: Bool?

    enum CodingKeys: String, CodingKey {
        case endpoint, times, errcode, errmsg, status, drop
        case delayMilliseconds = "delay_ms"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.endpoint = try container.decode(String.self, forKey: .endpoint)
        self.times = try container.decodeIfPresent(Int.self, forKey: .times) ?? 1
        self.errcode = try container.decodeIfPresent(Int.self, forKey: .errcode)
        self.errmsg = try container.decodeIfPresent(String.self, forKey: .errmsg)
        self.status = try container.decodeIfPresent(Int.self, forKey: .status)
        self.delayMilliseconds = try container.decodeIfPresent(Int.self, forKey: .delayMilliseconds)
        self.drop = try container.decodeIfPresent(Bool.self, forKey: .drop)
    }

    /// Why the fault cannot be accepted, or nil when it is well formed.
    var validationFailure: String? {
        if !self.endpoint.hasPrefix("/") { return "endpoint must be a path such as /sns/jscode2session" }
        if self.times < 1 { return "times must be at least 1" }
        if let status = self.status, !(100...599).contains(status) { return "status must be an HTTP status" }
        if let delay = self.delayMilliseconds, !(0...600_000).contains(delay) {
            return "delay_ms must be between 0 and 600000"
        }
        return nil
    }

    /// WeChat's own wording for the errcodes a fault is most often used to simulate.
    static func defaultErrmsg(for errcode: Int) -> String {
        switch errcode {
        case -1: "system error"
        case 45011: "api minute-quota reach limit  mustslower  retry next minute"
        case 40226: "invalid code, this code has been blocked"
        case 40164: "invalid ip, not in whitelist"
        case 42003: "code expired"
        default: "sandbox fault"
        }
    }
}

/// The queue of faults, per endpoint, in the order they were added.
struct FaultQueue: Sendable {
    private var pending: [String: [SandboxFault]] = [:]

    mutating func add(_ fault: SandboxFault) {
        self.pending[fault.endpoint, default: []].append(fault)
    }

    /// Takes one application of the oldest fault for `endpoint`, if any.
    mutating func next(for endpoint: String) -> SandboxFault? {
        guard var queue = self.pending[endpoint], var first = queue.first else { return nil }
        first.times -= 1
        if first.times == 0 {
            queue.removeFirst()
        } else {
            queue[0] = first
        }
        self.pending[endpoint] = queue.isEmpty ? nil : queue
        return first
    }

    mutating func removeAll() {
        self.pending.removeAll()
    }
}
