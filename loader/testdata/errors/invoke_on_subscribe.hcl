component "oncounter" {
  source = "../app"

  subscribe "com.myapp.oncounter" {
    handler = "OnCounter"
    invoke  = "roundrobin"
  }
}
