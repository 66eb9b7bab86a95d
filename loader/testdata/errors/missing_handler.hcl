component "add2" {
  source = "../app"

  register "com.myapp.add2" {
    match = "exact"
  }
}
