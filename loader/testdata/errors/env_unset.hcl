component "greeter" {
  source = "../app"
  config = {
    token = env("WAMPHOST_TEST_SURELY_UNSET")
  }
}
