connection "crossbar" {
  url = "wss://router.example.com/ws"

  auth {
    method = "wampcra"
    authid = "backend"
  }
}

connection "bondy" {
  url = "ws://127.0.0.1:18080/ws"

  auth {
    method = "ticket"
    secret = env("HOME")
  }
}

connection "nexus" {
  url = "ws://127.0.0.1:8000/"

  auth {
    method      = "cryptosign"
    authid      = "backend"
    private_key = env("HOME")
  }
}
