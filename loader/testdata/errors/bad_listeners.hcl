router {
  listener "websocket" {
    address     = "localhost"
    serializers = ["json", "ubjson"]
  }
  listener "rawsocket" {
    address = "127.0.0.1:8081"
    path    = "/ws"
    tls {
      cert_file = "missing/cert.pem"
      key_file  = "missing/key.pem"
    }
  }
  listener "longpoll" {}
}
