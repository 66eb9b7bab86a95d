# Handler tests for the guide's examples: `wamphost test` from the
# repository root runs them without a router.

test "add2 adds" {
  call "com.myapp.add2" {
    args = [2, 3]
    expect { args = [5] }
  }
  call "com.myapp.add2" {
    kwargs = { x = 40, y = 2 }
    expect { args = [42] }
  }
}

test "add2 refuses a string" {
  call "com.myapp.add2" {
    args = ["two", 3]
    expect_error { uri = "wamp.error.invalid_argument" }
  }
}

test "oncounter takes an event" {
  publish "com.myapp.oncounter" { args = [7] }
  expect_event "com.myapp.oncounter" { args = [7] }
}
