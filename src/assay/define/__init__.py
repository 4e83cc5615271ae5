"""How tests are described: the Test class, parameters, output helpers, references."""
