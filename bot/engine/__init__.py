"""The Rasa engine, loaded in-process: the trained model, its tracker and lock stores."""
