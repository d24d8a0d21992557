"""Publishing a run to the Hugging Face Hub, the reviewer path that reuses it, the Neuronpedia export."""
