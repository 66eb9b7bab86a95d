component "oncounter" {
  source = "../app"

  subscribe "com.myapp.oncounter" {
    handler         = "OnCounter"
    disclose_caller = true
  }
}
