import FunctionRuntime
import WXAuth

// Before anything else: a PostgreSQL configuration runs wxauth-postgres in this process's place.
let handOffFailure = Functions.handOffToPostgresIfConfigured(.userinfo)
FunctionHarness.start(name: "userinfo") {
    Functions.definition(.userinfo, environment: $0, handOffFailure: handOffFailure)
}
