router {
  realm "realm1" {
    role "frontend" {
      permission {
        uri  = "com.example."
        match = "prefix"
        call = true
      }
    }

    principal "ticketed" {
      method = "ticket"
      secret = "t"
      salt   = "salt123"
      role   = "frontend"
    }
    principal "unsalted" {
      method     = "wampcra"
      secret     = "s"
      iterations = 100
      role       = "frontend"
    }
    principal "empty" {
      method = "wampcra"
      secret = "s"
      salt   = ""
      role   = "frontend"
    }
    principal "zero" {
      method     = "wampcra"
      secret     = "s"
      salt       = "salt123"
      iterations = 0
      keylen     = -1
      role       = "frontend"
    }
  }
}
