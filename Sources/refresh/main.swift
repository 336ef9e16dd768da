import FunctionRuntime
import WXAuth
import WXAuthPostgres

FunctionHarness.start(name: "refresh", settings: .wxauth) {
    Functions.definition(.refresh, environment: $0, postgres: PostgresStore.opener)
}
