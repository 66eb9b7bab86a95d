connection "edge" {
  url             = "http://127.0.0.1:8080/ws"
  serializer      = "ubjson"
  connect_timeout = "0s"
}

connection "raw" {
  url        = "tcp://127.0.0.1"
  keep_alive = "5s"

  tls {
    server_name = "router.example.com"
  }

  reconnect {
    initial_delay = "2s"
    max_delay     = "1s"
    factor        = 0.5
    jitter        = 2
  }
}
