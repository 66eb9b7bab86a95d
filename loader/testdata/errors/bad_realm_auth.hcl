router {
  realm "realm1" {
    anonymous = "visitor"

    role "frontend" {
      permission {
        uri   = "com.example."
        match = "everything"
        call  = true
      }
    }

    principal "joe" {
      method = "ticket"
      role   = "frontend"
    }
    principal "joe" {
      method = "ticket"
      secret = "x"
      role   = "frontend"
    }
    principal "ann" {
      method = "wampcra"
      secret = "s"
      role   = "admin"
    }
    principal "key" {
      method      = "cryptosign"
      public_keys = ["abcd"]
      role        = "frontend"
    }
    principal "pw" {
      method = "password"
      secret = "s"
      role   = "frontend"
    }
  }
}
