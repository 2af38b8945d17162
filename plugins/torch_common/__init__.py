"""What the torch family keeps to itself: atomic checkpoints and the RNG states a resumed run
restores (`checkpoint`, which imports torch: import it from `run()`, never from a plugin
module's top level). The training-loop pieces it shares with the nlp family live in
`plugins.common.torch_train`."""
