import FunctionRuntime
import WXAuth
import WXAuthPostgres

FunctionHarness.start(name: "refresh") {
    Functions.definition(.refresh, environment: $0, postgres: PostgresStore.opener)
}
