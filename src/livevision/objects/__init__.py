"""Objects over time: tracking and distance (livevision.objects.distance)."""
