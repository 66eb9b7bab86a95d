# wamphost runs the Autobahn|Python guide's examples on its embedded router,
# at the guide's address: ws://localhost:8080/ws, realm realm1.
#
#   wamphost run                 # or: make run
#
# See docs/configuration.md for every block and attribute.

router {
  listen = "127.0.0.1:8080"
  path   = "/ws"

  realm "realm1" {}
}

# def add2(x, y): return x + y  ->  examples/add2/add2.go
component "add2" {
  source = "examples/add2"

  register "com.myapp.add2" {
    handler = "Add2"
  }
}

# Publishes 0, 1, 2, ... to com.myapp.oncounter once a second.
component "counter" {
  source = "examples/counter"
}

# Logs every com.myapp.oncounter event.
component "oncounter" {
  source = "examples/oncounter"

  subscribe "com.myapp.oncounter" {
    handler = "OnCounter"
  }
}
