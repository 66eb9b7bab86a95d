component "greeter" {
  source = "../app"
  config = ["hello", "world"]
}
