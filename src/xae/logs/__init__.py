"""Log Center: app output, merged across instances and streamed live.

For now it reads the runtime's own log buffers; keeping output after containers are gone,
search and drains come with the full Log Center.
"""
