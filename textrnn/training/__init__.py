"""Training a model: its settings, inputs, the fine-tuning loop, pre-training, checkpoints and tuning.

    from textrnn.training.config import TrainConfig
    from textrnn.training.train import train
    train(TrainConfig(dataset="../shared/data/sst2", output="runs/sst2"))

Nothing that uses a saved model (inference, explain, export, serve) imports this package.
"""
