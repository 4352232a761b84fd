pytest_plugins = ["tests.fixtures.database", "tests.fixtures.emulator", "tests.fixtures.bot",
                  "tests.fixtures.browser", "tests.fixtures.sandbox", "tests.fixtures.city"]
