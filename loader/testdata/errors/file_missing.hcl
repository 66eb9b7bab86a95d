component "greeter" {
  source = "../app"
  config = {
    secret = file("no-such-secret.txt")
  }
}
