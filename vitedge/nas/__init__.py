"""One pretrained ViT, a family of faster variants: the model fine-tuned once as a weight-sharing supernet over knobs
that keep its pretrained behaviour (input resolution, depth, uniform widths), then searched per target, without
retraining, for the fastest sub-network within the accuracy limit."""
