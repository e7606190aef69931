"""GPT-2 language models: build from params, train, save/load (safetensors only), hook."""
