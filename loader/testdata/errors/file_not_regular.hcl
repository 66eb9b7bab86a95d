component "greeter" {
  source = "../app"
  config = {
    secret = file("../app")
  }
}
