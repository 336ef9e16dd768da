import FunctionRuntime
import WXAuth

// No store: the key set and the metadata come from the configuration alone, never from the store.
FunctionHarness.start(name: "jwks", settings: .wxauth) {
    Functions.definition(.jwks, environment: $0)
}
