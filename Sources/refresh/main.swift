import FunctionRuntime
import WXAuth

// Before anything else: a PostgreSQL configuration runs wxauth-postgres in this process's place.
let handOffFailure = Functions.handOffToPostgresIfConfigured(.refresh)
FunctionHarness.start(name: "refresh") {
    Functions.definition(.refresh, environment: $0, handOffFailure: handOffFailure)
}
