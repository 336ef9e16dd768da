import Synchronization

/// The metrics of one invocation, written at its end as one CloudWatch Embedded Metric Format line on stderr
/// (dashboards and alarms on Lambda without an agent; plain JSON anywhere else).
///
/// The harness makes one per invocation and publishes it as ``current`` while the handler runs, so code deep
/// in a flow counts what happened without the instance being passed down.
public final class InvocationMetrics: Sendable {
    /// A metric's unit, as CloudWatch names it.
    public enum Unit: String, Sendable {
        case count = "Count"
        case milliseconds = "Milliseconds"
    }

    /// The metrics of the invocation the current task serves, if any.
    @TaskLocal public static var current: InvocationMetrics?

    private struct Entry {
        var name: String
        var unit: Unit
        var value: Double
    }

    private let entries = Mutex<[Entry]>([])

    public init() {}

    /// Adds `value` to the metric `name`, creating it (in first-seen order) when new.
    public func add(_ name: String, _ value: Double = 1, unit: Unit = .count) {
        entries.withLock { entries in
            if let index = entries.firstIndex(where: { $0.name == name }) {
                entries[index].value += value
            } else {
                entries.append(Entry(name: name, unit: unit, value: value))
            }
        }
    }

    /// The current value of `name`, or nil when it was never recorded.
    public func value(of name: String) -> Double? {
        entries.withLock { entries in entries.first(where: { $0.name == name })?.value }
    }

    /// One EMF object (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)
    /// in namespace `namespace` with `function` as the only dimension, ending in a newline.
    package func embeddedMetricFormat(
        namespace: String,
        function: String,
        requestId: String?,
        timestampMilliseconds: Int64
    ) -> String {
        let entries = entries.withLock { $0 }
        let definitions = entries.map {
            "{\"Name\":" + JSONText.quote($0.name) + ",\"Unit\":\"" + $0.unit.rawValue + "\"}"
        }
        var line =
            "{\"_aws\":{\"Timestamp\":" + String(timestampMilliseconds) + ",\"CloudWatchMetrics\":[{\"Namespace\":"
        line += JSONText.quote(namespace) + ",\"Dimensions\":[[\"function\"]],\"Metrics\":["
        line += definitions.joined(separator: ",") + "]}]},\"function\":" + JSONText.quote(function)
        if let requestId { line += ",\"requestId\":" + JSONText.quote(requestId) }
        for entry in entries {
            line += "," + JSONText.quote(entry.name) + ":" + Self.number(entry.value)
        }
        return line + "}\n"
    }

    /// A JSON number: whole values without a fraction, others with three decimals; never NaN or infinity.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        // Beyond 10^12 a metric is nonsense anyway; Swift's own text ("1e+300") is valid JSON and cannot trap.
        guard abs(value) < 1e12 else { return String(value) }
        if value == value.rounded() { return String(Int64(value)) }
        let thousandths = (value * 1000).rounded()
        let whole = Int64(thousandths) / 1000
        let fraction = abs(Int64(thousandths) % 1000)
        let sign = thousandths < 0 && whole == 0 ? "-" : ""
        let digits = String(fraction)
        return sign + String(whole) + "." + String(repeating: "0", count: 3 - digits.count) + digits
    }
}
