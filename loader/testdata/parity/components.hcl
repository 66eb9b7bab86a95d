# The same config as components.json, in HCL's native syntax.
router {
  listen           = "127.0.0.1:9000"
  path             = "wamp"
  max_message_size = 65536
  allow_origins    = ["https://example.com", "http://localhost:*"]

  realm "realm1" {}
  realm "com.example.admin" {}
}

daemon {
  shutdown_grace = "2s"
  watch          = false
}

component "add2" {
  realm  = "realm1"
  source = "../app"

  register "com.myapp.add2" {
    handler = "Add2"
  }

  register "com.myapp.math." {
    handler         = "Math"
    match           = "prefix"
    invoke          = "roundrobin"
    disclose_caller = true
    timeout         = "5s"
    concurrency     = 8
  }
}

component "greeter" {
  realm         = "com.example.admin"
  source        = "../app/app.go"
  allow_imports = ["encoding/csv", "math/big"]
  event_queue   = 16

  config = {
    greeting = upper("hello")
    token    = env("WAMPHOST_PARITY_SURELY_UNSET", "fallback")
    secret   = file("secret.txt")
    limits = {
      max   = 10
      ratio = 0.5
      on    = true
      tags  = ["a", "b"]
      none  = null
    }
    words = split(",", "x,y")
  }

  subscribe "com.myapp..tick" {
    handler = "OnTick"
    match   = "wildcard"
  }

  subscribe "com.myapp.oncounter" {
    handler = "OnCounter"
  }
}
